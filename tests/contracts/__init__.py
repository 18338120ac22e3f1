"""Contract test suites: one mixin per role, run by every implementation's test module."""
