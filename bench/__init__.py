"""Side-by-side benchmarks: our code and the libraries a user would otherwise pick, in one run."""
