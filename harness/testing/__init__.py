"""brownout inside pytest: fixtures, a marker and assertions for resilience tests.

``harness.testing.plugin`` is registered through the ``pytest11`` entry point; the rest of this
package imports nothing from pytest, so the same objects work in any test runner or script.
"""
