"""The composition roots: `gateway` wires one gate's process, `collector` the community
server's; `devices` and `broker` turn the config into device and broker objects for them."""
