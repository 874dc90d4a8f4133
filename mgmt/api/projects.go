package api

// Atoll has no projects, so every projectid names a project that does not exist. CloudStack
// answers an unknown project with InvalidParameterValueException "Unable to find project by id
// <id>" (AccountManagerImpl.buildACLSearchParameters for lists, finalizeOwner for creates).
func errNoProject(id string) error {
	return ErrParam("Unable to find project by id %s", id)
}

// refuseProject refuses a call that names any projectid.
func (c *Call) refuseProject() error {
	if id := c.P.String("projectid"); id != "" {
		return errNoProject(id)
	}
	return nil
}
