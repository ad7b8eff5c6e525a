// Command jarvis-vcsim serves govmomi's vCenter simulator for the jarvis sandbox.
//
// It builds the simulator's VPX inventory (datacenter DC0, cluster DC0_C0 with hosts DC0_C0_H0..2,
// datastore LocalDS_0, portgroup DC0_DVPG0, a few VMs left powered off), serves the SDK over https
// with the simulator's self-signed certificate on 127.0.0.1:PORT, accepts only the login given in
// VCSIM_USERNAME / VCSIM_PASSWORD (never on the command line: ps shows it to every user), prints the
// SDK's URL and runs until SIGTERM or SIGINT.
//
// It is built by sandbox/vsphere.py against Debian's govmomi 0.24.2 with the simulator package
// patched (see README.md): clones honour their config, customization and powerOn, and guests
// report an IP address (fixed, or leased from -dhcp-subnet) while they are powered on.
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/vmware/govmomi/simulator"
)

func main() {
	port := flag.Int("port", 0, "TCP port to listen on, on 127.0.0.1 (0: any free port)")
	dhcpSubnet := flag.String("dhcp-subnet", "", "IPv4 subnet from whose .4 upward guests without a fixed IP lease one")
	flag.Parse()

	username, password := os.Getenv("VCSIM_USERNAME"), os.Getenv("VCSIM_PASSWORD")
	if username == "" || password == "" {
		log.Fatal("set VCSIM_USERNAME and VCSIM_PASSWORD: the only login the simulator accepts")
	}
	if *dhcpSubnet != "" {
		if err := simulator.JarvisDHCPSubnet(*dhcpSubnet); err != nil {
			log.Fatalf("-dhcp-subnet: %v", err)
		}
	}

	model := simulator.VPX()
	model.Autostart = false // only the VMs deployments power on become hosts
	if err := model.Create(); err != nil {
		log.Fatalf("creating the inventory: %v", err)
	}
	defer model.Remove() // the datastores' directories under $TMPDIR

	model.Service.Listen = &url.URL{
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)),
		User: url.UserPassword(username, password),
	}
	model.Service.TLS = new(tls.Config) // https with the simulator's built-in self-signed certificate
	server := model.Service.NewServer()
	defer server.Close()

	shown := *server.URL
	shown.User = nil
	fmt.Println(shown.String())

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
