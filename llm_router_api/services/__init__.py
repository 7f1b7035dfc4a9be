"""Task services defined by manifests: loading, the summary chunker, routes."""
