"""What every app shares and no app owns: the base of the service errors (errors), of the
API views (views) and the paginator's page protocol (pages).

Not a Django app (no models, no settings): a plain package that imports nothing of
ShelfWise, so that catalog, orders and tenants can all depend on it.
"""
