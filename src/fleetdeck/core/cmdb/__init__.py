"""The CMDB: object types, objects (every computer is one), categories with typed attributes
and entries, dialog tables. The default set (types, categories, attributes, dialog values) is
data (``data/catalog.json``), loaded once by ``catalog``."""
