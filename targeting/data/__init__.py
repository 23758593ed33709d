"""Reading input files, validating and encoding covariates, and the subgroup grammar."""
