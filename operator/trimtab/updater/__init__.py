"""The updater: brings running pods to their VerticalScaler's recommendation, within budgets."""
