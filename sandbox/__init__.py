"""The built-in local world: real slapd, named, moto EC2 and isolated podman hosts on loopback."""
