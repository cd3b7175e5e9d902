"""Geometry: the normalized frame, signed distances, sampling, marching cubes."""
