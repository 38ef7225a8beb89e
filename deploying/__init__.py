"""deploy.sh's program (deploy.sh only finds a Python for it): one module per job, listed in
docs/deploying.md, "How deploy.sh is built"."""
