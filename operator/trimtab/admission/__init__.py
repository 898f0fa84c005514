"""Admission: what Trimtab writes into pods as they are created, and how the webhook is set up."""
