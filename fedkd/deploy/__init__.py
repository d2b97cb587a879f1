"""Flower's Deployment Engine on this machine: a SuperLink and SuperNodes as one unit (`fedkd-deploy`)."""
