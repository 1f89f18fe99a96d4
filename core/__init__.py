"""What every app shares and no app owns: today, the base of the service errors.

Not a Django app (no models, no settings): a plain package that imports nothing of
ShelfWise, so that catalog, orders and tenants can all depend on it.
"""
