"""Active Calls collector: fleet state, incidents, ETAs, history (docs/collector.md).

Pure core: ``ingest`` (messages to events), ``fleet``, ``incidents``, ``eta``,
``recompute``, ``calibrate``, ``export``, ``text``; shells: ``store`` (SQLite),
``router`` (OSRM). ``public`` is the public feed's privacy policy.
"""
