"""Not part of the example plugin: keeps its tests out of ragdistill's own runs.

``tests/plugin_example/tests`` are the plugin's tests, run by a plugin author with the
plugin installed. ragdistill's suite runs them that way in
``tests/core/test_plugin_example.py`` (the plugin installed as a temporary distribution);
everywhere else the plugin is not importable, so they are not collected.
"""

from importlib.util import find_spec

collect_ignore = [] if find_spec("ragdistill_bow") else ["tests"]
