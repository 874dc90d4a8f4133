package kvm

// reverter collects undo steps of a multi-step host change and runs them, last first, unless
// the change succeeded:
//
//	r := &reverter{}
//	defer r.fail()
//	... r.add(undo) after each step ...
//	r.success()
type reverter struct {
	undo []func()
	done bool
}

func (r *reverter) add(f func()) { r.undo = append(r.undo, f) }

// success keeps every step: fail then does nothing.
func (r *reverter) success() { r.done = true }

// fail runs the undo steps in reverse order, unless success was called.
func (r *reverter) fail() {
	if r.done {
		return
	}
	for i := len(r.undo) - 1; i >= 0; i-- {
		r.undo[i]()
	}
	r.undo = nil
}
