"""The race: ShelfWise and its raw twin under gunicorn, the same endpoints, alternating wrk
rounds (``engine``), gated on their CPU ratios (``gate``); ``handicap`` slows one contender
to prove the gate; ``run`` is what ShelfWise hands the engine (servers, endpoints, token)
for ``manage.py bench --race``. ``engine``, ``gate`` and ``handicap`` import no ShelfWise
app."""
