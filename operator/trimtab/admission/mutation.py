"""What the webhook changes in a pod being created.

For now only a marker annotation, which proves the admission path end to end; the updater's
admission step replaces it with the recommended requests.
"""

from __future__ import annotations

ADMITTED_ANNOTATION = "trimtab.dev/admitted"


def admission_annotations() -> dict[str, str]:
    """Annotations added to every pod the webhook sees."""
    return {ADMITTED_ANNOTATION: "true"}
