"""The gate's documents from and to the site: trust lists, status lists and policy over the
broker, and bundles carried by hand."""
