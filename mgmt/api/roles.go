package api

func registerRoles(s *Server) {
}
