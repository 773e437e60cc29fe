"""opsi methods, one module per area. Importing this package registers every module in it, so a
new module needs no edit here."""

from __future__ import annotations

import importlib
import pkgutil

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
