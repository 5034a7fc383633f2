package hostlocal

// CheckAllocatable reports, without touching the store, what Allocate would
// refuse in the config alone: no range set, or a requested IP that is in no
// range set, is a gateway, network or broadcast address, or shares a range
// set with another. ADD calls it before opening the store, so that a bad
// config creates no directory and no lock file.
func (c *Config) CheckAllocatable() error {
	if err := c.RequireRanges(); err != nil {
		return err
	}
	_, err := assignRequested(c)
	return err
}
