"""Topology data shipped with graphens (installed as the data package ``graphens.shipped``).

The repository keeps these files in its top-level ``topologies/`` folder; ``pyproject.toml``
maps that folder onto ``graphens.shipped`` so wheels and editable installs both carry them.
Read them with :func:`graphens.topology.connectome.topologies_dir` (``importlib.resources``),
never by a path relative to the source tree. See ``README.md`` in this folder for what each
file holds and where it comes from.
"""
