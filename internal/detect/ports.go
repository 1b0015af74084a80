package detect

// servicePorts are the ports scanners go for first: well-known services
// (file transfer, remote administration, mail, name services, directory,
// file sharing, databases, remote desktops) and the web alternates every
// mass scanner probes. Round numbers such as 7000, 8000 and 9000 are left
// out on purpose: they are what people pick for knock sequences (knockd's
// own example) and no more likely to be scanned than their neighbours.
var servicePorts = [...]uint16{
	20, 21, 22, 23, 25, 53, 67, 68, 69, 80, 81, 88, 110, 111, 119, 123, 135, 137, 138, 139, 143,
	161, 162, 179, 389, 443, 445, 465, 500, 514, 515, 548, 554, 587, 631, 636, 873, 990, 993, 995,
	1080, 1194, 1433, 1434, 1521, 1723, 1883, 1900, 2049, 2082, 2083, 2222, 2323, 2375, 2376, 3128,
	3306, 3389, 4500, 5060, 5353, 5432, 5900, 5901, 5985, 5986, 6379, 6443, 7547, 8080, 8081, 8443,
	8888, 9200, 11211, 27017,
}

var servicePortSet = func() (set [65536 / 64]uint64) {
	for _, p := range servicePorts {
		set[p/64] |= 1 << (p % 64)
	}
	return set
}()

func isServicePort(p uint16) bool { return servicePortSet[p/64]&(1<<(p%64)) != 0 }
