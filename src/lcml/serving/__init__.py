"""Serving: the one pyfunc loader, the registered model class, batch scoring and its readers, embeddings."""
