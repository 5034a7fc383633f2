package cniplugin

// Bounds on the names a runtime passes. skel checks their characters but
// not their length. A network name becomes a directory name in dataDirs
// (NAME_MAX, 255 bytes). A container ID ends up in file contents, rule
// comments and hashes; real ones are 64 hex characters. Anything longer is
// refused before a verb runs, so no file or rule is ever touched with it.
const (
	MaxNetworkName = 255
	MaxContainerID = 1024
)

// refuseOverlong refuses a network name or container ID longer than the
// bounds above: code 7 for the name (it comes from the config), 4 for the
// container ID (CNI_CONTAINERID).
func refuseOverlong(containerID, name string) error {
	if len(containerID) > MaxContainerID {
		return Errorf(ErrInvalidEnvironment, "CNI_CONTAINERID %.32q...: %d bytes, longer than %d", containerID, len(containerID), MaxContainerID)
	}
	if len(name) > MaxNetworkName {
		return ConfigErrorf("network name %.32q...: %d bytes, longer than %d", name, len(name), MaxNetworkName)
	}
	return nil
}
