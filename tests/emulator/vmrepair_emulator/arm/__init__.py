"""Azure Resource Manager: the front door (core.py) and one package per resource provider."""
