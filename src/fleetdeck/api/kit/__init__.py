"""The dialect kit: what every dialect (and ``/api/v1``) shares, so a dialect only translates.

- ``registry``: one declaration per JSON-RPC method drives dispatch, validation, introspection.
- ``jsonrpc``: one JSON-RPC engine (batches, ids, notifications, per-element errors, worker
  threads) with a small ``Policy`` per dialect for what differs.
- ``listing``: REST list syntax (filter / sort / page / sparse fields) into ``core.query``.
- ``errors``: exception class -> a transport's rendering, by one table walked along the MRO.
- ``credentials``: a short-lived cache of verified passwords for clients that send them on
  every call.
- ``concurrency``: worker threads shared fairly between callers.
- ``dialect``: the ``Dialect`` shape and how ``create_app`` mounts its sub-application.

The kit imports no dialect and no transport (``lint-imports`` checks it).
"""
