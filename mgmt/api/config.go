package api

func registerConfig(s *Server) {
}
