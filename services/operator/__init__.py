"""Tenant operator (kopf): turns a Tenant custom resource into its execution plane."""
