"""Cloud providers behind one interface: where nodes are bought and given back."""
