"""What technicians and newcomers run beside the service: install, certificates, the doctor,
the bench, the demo and the example config."""
