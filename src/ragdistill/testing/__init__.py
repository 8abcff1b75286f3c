"""Test helpers for ragdistill and its plugins: tiny models and contract suites.

``ragdistill.testing.tiny`` builds tiny random-weight models (no hub access);
``ragdistill.testing.contracts`` holds pytest suites a plugin's test module subclasses.
Neither is imported here, so importing this package stays cheap.
"""
