"""What the agent and the collector share (the simulators too).

The wire contract (:mod:`common.wire`) and the ``Fix`` value it carries
(:mod:`common.fix`); the MQTT connection both sides use (:mod:`common.mqtt`),
its backoff; TOML reading with file:line errors (:mod:`common.tomlconfig`),
command-line errors and options, the ✓/✗ check table, sd_notify, the SQLite
transaction helper, and the root of the project's own errors
(:mod:`common.errors`). Nothing here knows a receiver, a store or an ETA.
"""
