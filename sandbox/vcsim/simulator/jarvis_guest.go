// Jarvis sandbox addition to govmomi's simulator package (not part of govmomi).
//
// sandbox/vsphere.py copies this file into its build copy of the package, next to the small hooks
// simulator.patch adds to virtual_machine.go. Debian's 0.24.2 simulator ignores a clone spec's
// config, customization and powerOn, and a guest reports an IP address only after a customization
// with a fixed IP (and keeps it while powered off). With these additions:
//   - CloneVM_Task takes CPUs, memory and annotation from spec.config, runs spec.customization at
//     the clone's first power-on (as CustomizeVM_Task arranges it) and honours spec.powerOn;
//   - a powered-on guest reports what VMware Tools would: its IP address and hostname, from this
//     boot's customization, else from its last boot, else a DHCP lease from the -dhcp-subnet
//     (.4 upward: .1 is the gateway, .2 and .3 stay reserved); a powered-off one reports none;
//   - a destroyed VM's lease is released.

package simulator

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"

	"github.com/google/uuid"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// jarvisGuestOS is what a VM's guest operating system keeps across reboots.
type jarvisGuestOS struct {
	ip       string
	hostname string
}

var jarvisGuests = struct {
	sync.Mutex
	subnet *net.IPNet
	byVM   map[string]*jarvisGuestOS // by the VM's moref value, which the simulator never reuses
}{byVM: map[string]*jarvisGuestOS{}}

// JarvisDHCPSubnet sets the IPv4 subnet that guests without a fixed IP lease their address from.
func JarvisDHCPSubnet(cidr string) error {
	_, subnet, err := net.ParseCIDR(cidr)
	if err != nil {
		return err
	}
	if subnet.IP.To4() == nil {
		return fmt.Errorf("%s is not an IPv4 subnet", cidr)
	}
	jarvisGuests.Lock()
	defer jarvisGuests.Unlock()
	jarvisGuests.subnet = subnet
	return nil
}

// jarvisLease returns the lowest address from .4 that no guest has, "" if none is left or there is
// no DHCP subnet. The caller holds jarvisGuests' lock.
func jarvisLease() string {
	subnet := jarvisGuests.subnet
	if subnet == nil {
		return ""
	}
	taken := map[string]bool{}
	for _, guest := range jarvisGuests.byVM {
		taken[guest.ip] = true
	}
	base := binary.BigEndian.Uint32(subnet.IP.To4())
	ones, bits := subnet.Mask.Size()
	size := uint32(1) << uint(bits-ones)
	for offset := uint32(4); offset+1 < size; offset++ { // never the broadcast address
		ip := make(net.IP, 4)
		binary.BigEndian.PutUint32(ip, base+offset)
		if !taken[ip.String()] {
			return ip.String()
		}
	}
	return ""
}

// jarvisCloneConfig copies into the clone's CONFIG what CloneVM_Task dropped from the spec's config.
func jarvisCloneConfig(config *types.VirtualMachineConfigSpec, spec *types.VirtualMachineConfigSpec) {
	if spec == nil {
		return
	}
	if spec.NumCPUs != 0 {
		config.NumCPUs = spec.NumCPUs
	}
	if spec.NumCoresPerSocket != 0 {
		config.NumCoresPerSocket = spec.NumCoresPerSocket
	}
	if spec.MemoryMB != 0 {
		config.MemoryMB = spec.MemoryMB
	}
	if spec.Annotation != "" {
		config.Annotation = spec.Annotation
	}
}

// jarvisCloneHost is the host a clone runs on: the spec's, else the source VM's.
func jarvisCloneHost(vm *VirtualMachine, location *types.VirtualMachineRelocateSpec) *types.ManagedObjectReference {
	if location.Host != nil {
		return location.Host
	}
	return vm.Runtime.Host
}

// jarvisCloneCheck refuses, as vCenter does, a customization whose NIC settings do not match the
// source VM's NICs (customize() indexes guest.net by them).
func (vm *VirtualMachine) jarvisCloneCheck(spec *types.VirtualMachineCloneSpec) types.BaseMethodFault {
	if c := spec.Customization; c != nil && len(c.NicSettingMap) != len(vm.Guest.Net) {
		return &types.NicSettingMismatch{
			NumberOfNicsInSpec: int32(len(c.NicSettingMap)),
			NumberOfNicsInVM:   int32(len(vm.Guest.Net)),
		}
	}
	return nil
}

// jarvisAfterClone arranges the spec's customization for the clone's first power-on, then powers
// it on if the spec asks to.
func (vm *VirtualMachine) jarvisAfterClone(ctx *Context, spec *types.VirtualMachineCloneSpec) types.BaseMethodFault {
	if spec.Customization != nil {
		vm.imc = spec.Customization
		vm.Config.Tools.PendingCustomization = uuid.New().String()
	}
	if !spec.PowerOn {
		return nil
	}
	var fault types.BaseMethodFault
	ctx.WithLock(vm, func() {
		res := vm.PowerOnVMTask(ctx, &types.PowerOnVM_Task{This: vm.Self})
		if res.Fault() != nil {
			fault = res.Fault().VimFault().(types.BaseMethodFault)
			return
		}
		task := Map.Get(res.(*methods.PowerOnVM_TaskBody).Res.Returnval).(*Task)
		if task.Info.Error != nil {
			fault = task.Info.Error.Fault
		}
	})
	return fault
}

// jarvisGuestUp makes a VM that just powered on (and ran any pending customization) report its
// guest's IP address and hostname, as VMware Tools would.
func (vm *VirtualMachine) jarvisGuestUp() {
	jarvisGuests.Lock()
	defer jarvisGuests.Unlock()
	guest := jarvisGuests.byVM[vm.Self.Value]
	if guest == nil {
		guest = new(jarvisGuestOS)
		jarvisGuests.byVM[vm.Self.Value] = guest
	}
	if vm.Guest.IpAddress != "" { // a fixed IP that customize() just set
		guest.ip = vm.Guest.IpAddress
	}
	if vm.Guest.HostName != "" {
		guest.hostname = vm.Guest.HostName
	}
	if guest.ip == "" {
		guest.ip = jarvisLease()
	}
	running := string(types.VirtualMachineToolsRunningStatusGuestToolsRunning)
	changes := []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: running},
		{Name: "summary.guest.toolsRunningStatus", Val: running},
		{Name: "guest.guestState", Val: "running"},
		{Name: "guest.hostName", Val: guest.hostname},
		{Name: "summary.guest.hostName", Val: guest.hostname},
		{Name: "guest.ipAddress", Val: guest.ip},
		{Name: "summary.guest.ipAddress", Val: guest.ip},
	}
	if len(vm.Guest.Net) > 0 && guest.ip != "" && len(vm.Guest.Net[0].IpAddress) == 0 {
		nics := append([]types.GuestNicInfo(nil), vm.Guest.Net...)
		nics[0].IpAddress = []string{guest.ip}
		changes = append(changes, types.PropertyChange{Name: "guest.net", Val: nics})
	}
	Map.Update(vm, changes)
}

// jarvisGuestDown makes a VM that just powered off report no guest address or hostname.
func (vm *VirtualMachine) jarvisGuestDown() {
	nics := append([]types.GuestNicInfo(nil), vm.Guest.Net...)
	for i := range nics {
		nics[i].IpAddress = nil
		nics[i].IpConfig = nil
	}
	stopped := string(types.VirtualMachineToolsRunningStatusGuestToolsNotRunning)
	Map.Update(vm, []types.PropertyChange{
		{Name: "guest.toolsRunningStatus", Val: stopped},
		{Name: "summary.guest.toolsRunningStatus", Val: stopped},
		{Name: "guest.guestState", Val: "notRunning"},
		{Name: "guest.hostName", Val: ""},
		{Name: "summary.guest.hostName", Val: ""},
		{Name: "guest.ipAddress", Val: ""},
		{Name: "summary.guest.ipAddress", Val: ""},
		{Name: "guest.net", Val: nics},
	})
}

// jarvisGuestGone forgets a destroyed VM's guest, releasing its address.
func (vm *VirtualMachine) jarvisGuestGone() {
	jarvisGuests.Lock()
	defer jarvisGuests.Unlock()
	delete(jarvisGuests.byVM, vm.Self.Value)
}
