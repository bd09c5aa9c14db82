"""Collectors: adapters that turn outside data (the Kubernetes API, kubectl dumps, manifests)
into snapshot tables. ``toolkit.collect.k8s`` reads the inventory."""
