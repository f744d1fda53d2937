#!/usr/bin/env bash
# Draws the gallery of docs/topologies.md with the CLI: one PNG per family, 16 nodes, seed 0,
# plus the shipped C. elegans connectome mapped onto its 20 highest-degree neurons.
# Usage (from the repository root, with graphens installed): bash docs/make_gallery.sh
set -euo pipefail
out=docs/img/topologies
mkdir -p "$out"
for family in all-to-all gnk erdos-renyi directed-ring ring star watts-strogatz newman-watts \
              barabasi-albert sbm lattice torus regular bipartite distance knn; do
    graphens topology show "$family" --nodes 16 --seed 0 --plot "$out/$family.png" > /dev/null
done
graphens topology show connectome:celegans-white1986 map=degree:20 --seed 0 \
    --plot "$out/connectome-celegans-white1986.png" > /dev/null
echo "wrote $(ls "$out" | wc -l) images to $out"
