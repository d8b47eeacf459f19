"""The ML core: models and their registries, inference, images, data sets, compute settings. Imports nothing above it
(no runner, no app)."""
