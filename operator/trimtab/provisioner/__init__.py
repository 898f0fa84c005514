"""The node provisioner: which machines to buy for pending pods, as a pure simulation."""
