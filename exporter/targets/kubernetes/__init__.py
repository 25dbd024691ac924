"""The Kubernetes target: benchmark pods in a real cluster, through one client seam.

Only :mod:`.client` imports ``kubernetes``; everything else speaks JSON-shaped dicts and the
typed errors of :mod:`.errors`, and is tested against :mod:`.fake`.
"""
