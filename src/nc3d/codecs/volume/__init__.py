"""The volume codec (Bevec et al. and beyond): block tools here; the codec modules register themselves."""
