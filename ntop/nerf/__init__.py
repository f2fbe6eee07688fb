"""The human NeRF: hash-grid canonical field, inverse-LBS deformation, volume rendering, trainer."""
