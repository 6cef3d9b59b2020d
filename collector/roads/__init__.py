"""Roads: a drivable graph from the force's OpenStreetMap extract, and travel times on it.

- :mod:`~collector.roads.profile`: which ways are drivable, directions, class speeds, junction costs;
- :mod:`~collector.roads.graph`: ways -> graph (pure);
- :mod:`~collector.roads.snap`: positions -> road pieces (pure);
- :mod:`~collector.roads.times`: many-to-one travel times with a cut-off (pure);
- :mod:`~collector.roads.osm`: the pyosmium reader (the shell);
- :mod:`~collector.roads.router`: the ETA engine's road router on top of them.
"""
