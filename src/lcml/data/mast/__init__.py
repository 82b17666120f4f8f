"""MAST: missions and catalogs, the local cache, the network. :mod:`lcml.data.fetch` puts them together."""
