package api

func registerUsers(s *Server) {
}
