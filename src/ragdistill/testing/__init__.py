"""Test helpers for ragdistill and its plugins: tiny models and contract suites.

``ragdistill.testing.tiny`` builds tiny random-weight models (no hub access);
``ragdistill.testing.contracts`` holds pytest suites a plugin's test module subclasses
to check a component, and ``ragdistill.testing.stages`` one (``StageContract``) to check
a registered stage. None is imported here, so importing this package stays cheap.
"""
