"""Microsoft.Network: virtual networks, subnets, network interfaces, public IPs, NSGs."""
