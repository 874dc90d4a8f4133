package api

// Shorthands the volume and snapshot commands share to hand their parameters to
// mgmt/orchestrate/volume and mgmt/orchestrate/snapshot and to answer the jobs they start.

// volIntParam reads an optional integer parameter (validated already): nil when not sent.
func volIntParam(c *Call, name string) *int64 {
	n, ok := intParam(c, name)
	if !ok {
		return nil
	}
	return &n
}

// volBoolParam reads an optional boolean parameter: nil when not sent.
func volBoolParam(c *Call, name string) *bool {
	b, ok := c.P.Bool(name)
	if !ok {
		return nil
	}
	return &b
}

// volJobStarted answers a started job (the runner woken), or the error that kept it from
// starting.
func (c *Call) volJobStarted(jobID, id string, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	c.S.Jobs.Wake()
	return JobStarted{JobID: jobID, ID: id}, nil
}
